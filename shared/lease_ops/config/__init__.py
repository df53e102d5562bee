"""What the operator configures: platform.toml, the Chalice apps' folders and stages, regions."""
