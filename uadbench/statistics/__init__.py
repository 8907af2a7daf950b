"""The numbers on a board: AUROC and average precision, DeLong's test with Holm's correction,
bootstrap intervals and operating points."""
