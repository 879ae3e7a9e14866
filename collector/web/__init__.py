"""The collector's own web pages: templates, static JS/CSS and the texts they show (no CDN)."""
