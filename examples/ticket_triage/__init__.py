"""A support-ticket router: the model picks a queue, and each ticket goes to that queue's topic."""
