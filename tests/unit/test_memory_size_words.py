"""A memory size sbatch would not take is refused in the reader's language, every word of it:
the French form said "--mem : memory '4 Go' n'est pas une taille mémoire…" (found trying the
submit form in French)."""

from __future__ import annotations

import pytest

from myriagate.domain.sbatch_options import kinds
from myriagate.errors import JobSpecInvalid
from myriagate.web.i18n import Translator


def test_a_memory_size_refused_says_memory_in_french_too() -> None:
    with pytest.raises(JobSpecInvalid) as refused:
        kinds.memory("4 Go", kinds.ReadContext())
    french = str(Translator("fr").text(refused.value.detail))
    english = str(Translator("en").text(refused.value.detail))
    assert french == "mémoire '4 Go' n'est pas une taille mémoire comme 4000, 512M ou 4G"
    assert english == "memory '4 Go' is not a memory size such as 4000, 512M or 4G"
