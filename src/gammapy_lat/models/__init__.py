"""Source models: Fermi XML, catalog ROI models, diffuse backgrounds."""
