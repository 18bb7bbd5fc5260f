"""The country-scale benchmark: a seeded synthetic country, and the runner that measures the product on it."""
