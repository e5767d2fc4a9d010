import pytest

from pipelines.ecorisk.pipeline import EcoRiskConfig, EcoRiskPipeline


def make_pipeline(**sections) -> EcoRiskPipeline:
    raw = {"pipeline": "ecorisk", "seed": 0}
    raw.update(sections)
    return EcoRiskPipeline(EcoRiskConfig.model_validate(raw))


#: a small raster slice of Basse-Terre on the 90 m grid (forest, deforestation, protected land)
RASTER_DATA = {"dataset": "guadeloupe_raster", "scale": 3.0, "window": [150, 250, 224, 224], "patch_stride": 8,
               "raster_block_m": 3000.0, "patch_size": 32, "importance": "biomass",
               "zone": "protected"}


@pytest.fixture(scope="session")
def points_pipeline():
    return make_pipeline(data={"dataset": "guadeloupe_points", "importance": "biomass", "zone": "protected"},
                         train={"batch_size": 512, "epochs": 2})


@pytest.fixture(scope="session")
def amazon_pipeline():
    return make_pipeline(data={"dataset": "amazon_grid", "importance": "protected", "zone": "protected"},
                         train={"batch_size": 1024, "epochs": 4, "learning_rate": 0.003},
                         loss={"params": {"lambda_eco": 1.0, "lambda_fair": 10.0}})


@pytest.fixture(scope="session")
def raster_pipeline():
    return make_pipeline(data=RASTER_DATA, model={"filters": 12, "dilations": [1, 2], "baselines": ["logistic"]},
                         train={"batch_size": 16, "epochs": 8, "learning_rate": 0.004},
                         loss={"params": {"lambda_eco": 0.5, "lambda_fair": 1.0}})


@pytest.fixture(scope="session")
def new_pipeline():
    return make_pipeline
