# affnet_camvid_cpu.py shortened to 20 epochs (about 10 minutes on a 2-core
# CPU), the recipe of the experiment suites (tools/experiments.py) and of
# tools/compare.py --dataset camvid: everything else is the CPU recipe's.
# Validated once, at the end; checkpoints every 5 epochs, so that an
# interrupted run resumes with little lost.
_base_ = ['./affnet_camvid_cpu.py']

max_epochs = 20
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
default_hooks = dict(checkpoint=dict(interval=5))
