"""Evaluation metrics (docs/model.md §10): FID, segmentation mIoU / accuracy, LPIPS diversity, mCSD, mOCD."""

# the names `smis.evaluate metrics=[...]` takes (metrics=auto: those the weights and the split allow)
METRICS = ("fid", "miou", "lpips", "mcsd", "separation", "looks")
