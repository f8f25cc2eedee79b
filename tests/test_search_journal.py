"""The candidate journal (search/journal.py)."""

from keras_evomt.search.journal import CandidateJournal


def test_journal_keeps_only_committed_lines(tmp_path):
    journal = CandidateJournal(tmp_path / "search" / "candidates.jsonl")
    committed = journal.append([{"id": "a#0"}, {"id": "a#1"}])
    journal.append([{"id": "a#2"}])  # a crash before the commit that names it
    with open(journal.path, "ab") as f:
        f.write(b'{"id": "a#3", "qual')  # and a torn line
    journal.truncate(committed)
    assert [r["id"] for r in journal.read()] == ["a#0", "a#1"]
