# Opt-in: add this file to a config's _base_ to train or test with several
# processes on machines without CUDA (tools/dist_train.sh on CPUs). It selects
# mmseg_affnet's CPUDistributedRunner (gloo process group, SyncBN -> BN, DDP
# without device ids); the config must import the plugin
# (custom_imports = dict(imports=['mmseg_affnet'])), as every AFFNet config
# does. Nothing else needs it: every config trains, resumes and tests with
# mmengine's own Runner.
runner_type = 'CPUDistributedRunner'
