"""Local stand-ins for third-party services, speaking their real wire protocols."""
