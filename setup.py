"""el_zoo: Elastic-Link binarized neural networks and a model zoo built on Larq."""

from pathlib import Path

from setuptools import find_packages, setup

ROOT = Path(__file__).parent

setup(
    name="el_zoo",
    version="0.1.0",
    description="Elastic-Link for binarized neural networks: layers, models, pretrained zoo",
    long_description=(ROOT / "README.md").read_text() if (ROOT / "README.md").exists() else "",
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["el_zoo", "el_zoo.*", "training"]) + ["el_zoo.published"],
    # the published models (models/ in the repo) are installed as el_zoo/published, so a
    # non-editable install loads them without a download
    package_dir={"el_zoo.published": "models"},
    package_data={"el_zoo.published": ["manifest.json", "*/*"],
                  "training": ["templates/*.md"]},
    install_requires=[
        "tensorflow==2.16.2",
        "tf-keras==2.16.*",
        "larq==0.14.0",
        "larq-zoo==2.4.0",
        "larq-compute-engine==0.16.0",
        "numpy<2",
        "h5py",
        "pillow",
    ],
    # import-linter: tests/test_architecture.py checks pyproject.toml's import contracts
    extras_require={"test": ["pytest", "pytest-xdist", "matplotlib", "import-linter>=2.17,<3"],
                    "plot": ["matplotlib"]},
    entry_points={
        "console_scripts": ["el-zoo=el_zoo.cli:main"],
        # subcommands el-zoo reads at start-up (el_zoo.cli.COMMAND_GROUP): the library never
        # imports the training package, the package adds its command
        "el_zoo.commands": ["train=training.command:add_command"],
    },
)
