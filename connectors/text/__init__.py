"""Text analysers behind ``streams.ports.text.Tokenizer``."""
