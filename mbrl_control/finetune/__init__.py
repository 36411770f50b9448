"""Finetuning on robot data: pair messages into transitions, retrain, gate, deploy."""
