"""LAT instrument response: CALDB access, IRF evaluation and response maps."""
