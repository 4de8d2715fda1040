# Opt-in: add this file to a config's _base_ to train or test with several
# processes on machines without CUDA (tools/dist_train.sh on CPUs). It selects
# mmseg_affnet's CPUDistributedRunner (gloo process group, SyncBN -> BN, DDP
# without device ids). Nothing else needs it: every config trains, resumes and
# tests with mmengine's own Runner.
custom_imports = dict(imports=['mmseg_affnet'], allow_failed_imports=False)
runner_type = 'CPUDistributedRunner'
