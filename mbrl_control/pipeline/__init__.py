"""The sim-to-real pipeline: pretrain in randomized sim, evaluate, finetune on robot data, demo.

Each module is one stage and returns a metrics dict; the CLI modules only parse arguments.
"""
