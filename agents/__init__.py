"""One module per pipeline step: pure step logic plus thin Faust wiring."""
