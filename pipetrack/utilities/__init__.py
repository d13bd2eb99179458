"""ClearML's ``clearml.utilities`` path; ``plotly_reporter`` holds what ClearML's examples import."""
