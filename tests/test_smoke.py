def test_card_issue_writes_a_verifiable_audit_chain(card):
    from healthcard import audit

    checked, problem = audit.verify()
    assert problem is None
    assert checked >= 2
