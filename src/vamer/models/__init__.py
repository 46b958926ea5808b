"""Stage 4 of vamer: the plain ``nn.Module`` models (no training code here)."""
