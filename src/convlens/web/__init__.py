"""The explorer: a local web page to draw or upload an image and watch a trained CNN think."""
