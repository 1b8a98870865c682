"""Everything that touches the outside world lives here, behind small ports."""
