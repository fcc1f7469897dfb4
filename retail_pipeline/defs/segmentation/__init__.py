"""Customer segmentation and value assets (group `segmentation`)."""
