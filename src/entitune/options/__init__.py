"""Every option of every verb, declared once (``declare``): the config classes the recipes take, the
gate every value passes, config files, and the docs' option reference. Pure Python, no torch."""
from .choices import AUTO_CONTEXT, AUTO_EPOCHS, AUTO_PATIENCE, CLASSIFY_PROBE_EPOCHS, DEVICES
from .curation import AuditConfig, SelectConfig
from .declare import Options, OptionError, Spec, build_config, config_dict, declared, differences, option, spec_of
from .files import merged, parse_assignments, read_config_file
from .inference import (EvaluateConfig, ExportConfig, PackageConfig, PredictConfig, ReadOptions, ReportConfig,
                        ScorerOptions, ServeConfig, ServeLimits, parse_allowed_hosts, parse_shard)
from .tools import ConvertConfig, DoctorConfig, SplitConfig, VocabExtendConfig, VocabOptions, VocabPlanConfig
from .training import FinetuneConfig, LoopOptions, PretrainConfig, TuneConfig
from .adapt import AdaptConfig

__all__ = [
    "AdaptConfig", "AUTO_CONTEXT", "AUTO_EPOCHS", "AuditConfig", "SelectConfig", "AUTO_PATIENCE", "CLASSIFY_PROBE_EPOCHS", "DEVICES", "ConvertConfig", "DoctorConfig",
    "EvaluateConfig", "ExportConfig", "FinetuneConfig", "LoopOptions", "OptionError", "Options", "PackageConfig",
    "PredictConfig", "PretrainConfig", "ReadOptions", "ReportConfig", "ScorerOptions", "ServeConfig", "ServeLimits",
    "Spec", "SplitConfig", "TuneConfig", "VocabExtendConfig", "VocabOptions", "VocabPlanConfig", "build_config",
    "config_dict", "declared", "differences", "merged", "option", "parse_allowed_hosts", "parse_assignments", "parse_shard",
    "read_config_file", "spec_of",
]
