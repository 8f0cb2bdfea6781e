"""LAT data layer: FT1 events, FT2 spacecraft data, selections, observations and binning."""
