"""Knowledge documents: parse along their structure and chunk for retrieval (pure logic)."""
