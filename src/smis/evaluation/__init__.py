"""Evaluation metrics (SPEC §10): FID, segmentation mIoU / accuracy, LPIPS diversity, mCSD, mOCD."""
