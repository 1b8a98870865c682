"""The vector store: where knowledge chunks are kept for similarity search (see docs/vectors.md)."""
