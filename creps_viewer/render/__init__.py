"""How frames and jobs are scheduled and drawn, without widgets."""
