# affnet_camvid_cpu.py shortened to 20 epochs (about 10 minutes on a 2-core
# CPU), the recipe of the experiment suites (tools/experiments.py) and of
# tools/compare.py --dataset camvid: everything else is the CPU recipe's,
# but trained in float32 as the CPU recipe was when the suite started.
# Validated once, at the end; checkpoints every 5 epochs, so that an
# interrupted run resumes with little lost.
_base_ = ['./affnet_camvid_cpu.py']

# Float32, weights in the default layout: the committed suite results were
# trained so, before the CPU recipe took bfloat16 and channels-last, and a
# recipe of other settings would have another digest and refuse them.
optim_wrapper = dict(type='OptimWrapper')
custom_hooks = [
    dict(type='PreflightCheckHook'),
    dict(type='DistTeardownHook'),
]
max_epochs = 20
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
default_hooks = dict(checkpoint=dict(interval=5))
