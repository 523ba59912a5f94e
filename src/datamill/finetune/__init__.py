"""Fine-tuning sets: formats, validation, token statistics, cleaning, decontamination, splits, mixing, cards.

from datamill.finetune import read_examples, validate, clean, split, write_examples
report = validate("train.jsonl", max_tokens=4096)
result = clean(read_examples("train.jsonl"))
parts = split(result.kept, fractions={"train": 0.9, "test": 0.1}, stratify="label")
write_examples(parts["train"], "clean/train.jsonl", format="openai")
"""

from datamill.finetune.card import CardResult, dataset_card, write_dataset_card
from datamill.finetune.clean import (
    DEFAULT_RULES,
    RULES,
    CleanResult,
    clean,
    embedding_duplicates,
    find_defects,
)
from datamill.finetune.curate import Contamination, SplitResult, decontaminate, mix, split
from datamill.finetune.files import Written, clean_file, decontaminate_file, mix_files, split_file
from datamill.finetune.formats import (
    FORMATS,
    as_example,
    convert,
    detect_format,
    format_of_row,
    from_row,
    read_examples,
    to_row,
    write_examples,
)
from datamill.finetune.stats import (
    TokenStats,
    count_example_tokens,
    default_epochs,
    file_token_stats,
    token_stats,
)
from datamill.finetune.validate import CHECKS, CheckResult, ValidationReport, validate

__all__ = [
    "CHECKS",
    "CardResult",
    "CheckResult",
    "CleanResult",
    "Contamination",
    "DEFAULT_RULES",
    "FORMATS",
    "RULES",
    "SplitResult",
    "TokenStats",
    "ValidationReport",
    "Written",
    "as_example",
    "clean",
    "clean_file",
    "convert",
    "count_example_tokens",
    "dataset_card",
    "decontaminate",
    "decontaminate_file",
    "default_epochs",
    "detect_format",
    "embedding_duplicates",
    "file_token_stats",
    "find_defects",
    "format_of_row",
    "from_row",
    "mix",
    "mix_files",
    "read_examples",
    "split",
    "split_file",
    "to_row",
    "token_stats",
    "validate",
    "write_dataset_card",
    "write_examples",
]
