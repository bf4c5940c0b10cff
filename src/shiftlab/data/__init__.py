"""Data layer: the domain array convention, named-domain datasets, shift simulators and
real-dataset loaders. Nothing here depends on the other shiftlab layers."""

from shiftlab.data.catalog import catalog, dataset_info, is_available
from shiftlab.data.convention import (
    DEFAULT_SOURCE_DOMAIN,
    DEFAULT_TARGET_DOMAIN,
    MASKED_CLASS,
    check_domain_arrays,
    infer_sample_domain,
    is_masked,
    label_kind,
    mask_target_labels,
    source_mask,
    split_source_target,
    target_mask,
)
from shiftlab.data.dataset import DomainDataset, Task, merge_domains, split_domains
from shiftlab.data.home import get_data_home
from shiftlab.data.loaders import fetch_dataset, load_dataset
from shiftlab.data.simulate import (
    make_multi_source,
    make_shifted_blobs,
    make_shifted_gaussians,
    make_shifted_regression,
)

__all__ = [
    "DEFAULT_SOURCE_DOMAIN",
    "DEFAULT_TARGET_DOMAIN",
    "MASKED_CLASS",
    "DomainDataset",
    "Task",
    "catalog",
    "check_domain_arrays",
    "dataset_info",
    "fetch_dataset",
    "get_data_home",
    "infer_sample_domain",
    "is_masked",
    "is_available",
    "label_kind",
    "load_dataset",
    "make_multi_source",
    "make_shifted_blobs",
    "make_shifted_gaussians",
    "make_shifted_regression",
    "mask_target_labels",
    "merge_domains",
    "source_mask",
    "split_domains",
    "split_source_target",
    "target_mask",
]
