# The recipe of the converged experiment suite (tools/experiments.py --suite
# converged): affnet_camvid_cpu.py as shipped when the suite started
# (bfloat16 autocast, channels-last weights, 115 epochs validated at 40, 80
# and 115, about 45 minutes a run on a 2-core CPU), pinned: the settings a
# faster recipe would change are stated here, so that a later change of
# affnet_camvid_cpu.py (torch.compile, other epochs) leaves this recipe, its
# digest and the committed suite results as they are. Anything else that
# changes in the base changes the digest, and the suite then refuses to mix
# the results of two recipes (tests/test_apis/test_experiments.py checks
# the digest against results/camvid/converged/suite.json).
_base_ = ['./affnet_camvid_cpu.py']

train_dataloader = dict(batch_size=8, num_workers=2)
optim_wrapper = dict(type='BF16OptimWrapper', optimizer=dict(lr=1e-3))
custom_hooks = [
    dict(type='PreflightCheckHook'),
    dict(type='DistTeardownHook'),
    dict(type='ChannelsLastHook'),
]
max_epochs = 115
train_cfg = dict(max_epochs=max_epochs, val_interval=40)
# mmengine's Runner option: eager execution, as the suite's runs trained.
compile = False
