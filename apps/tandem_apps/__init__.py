"""Applications built on tandem. tandem itself never imports this package."""
