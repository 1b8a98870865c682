"""Publishing shorts: a port with the YouTube Data API adapter and the channel simulator."""
