"""The contracts a plugin author meets: ``Method`` (with ``RunContext``, ``ImageSet``,
``TrainingHistory``), ``Dataset``, per-image extras and progress reporting."""
