"""Fixtures shared by the deployment tests."""
import pytest

from tests.utils.training import EXPORT_SIZE, exported_test_model


@pytest.fixture(scope='session')
def exported_model(tmp_path_factory) -> dict:
    """One tiny dataset, config, checkpoint and fp32 graph for the
    onnxruntime and OpenVINO tests (:func:`exported_test_model`); tests
    write their own files elsewhere."""
    return exported_test_model(tmp_path_factory.mktemp('exported'),
                               EXPORT_SIZE)
