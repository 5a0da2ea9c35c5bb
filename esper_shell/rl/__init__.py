"""Learning the controller with PPO: policy network, vectorized environments, training loop."""
