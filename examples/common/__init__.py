"""What the Flask and Django example apps share: store, views, templates, scenarios."""
