"""Stage: metrics, baselines and reports."""
