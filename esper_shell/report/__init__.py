"""`esper-train report`: run directories turned into PNG plots and a markdown summary."""
