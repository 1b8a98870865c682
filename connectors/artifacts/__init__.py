"""The artifact store: where rendered videos and storyboards are kept, addressed by content."""
