"""Run folders: their files, checkpoints and fingerprints, and the lock that keeps one process per folder.

A search and a finetune share one run folder (``autoq search --finetune``, ``autoq finetune RUN``), so this
package sits below both.
"""
