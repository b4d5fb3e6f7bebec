"""A Pipeline embedded in an asyncio web application that shares its event loop."""
