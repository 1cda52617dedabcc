"""The contributions side: relief campaigns, committees' funds, contributions
and allocations, and household payments drawn from the funds.

- `commands`: the validated inputs (campaigns, funds, contributions, allocations);
- `rules`: Decree 93/2021's windows and purposes as versioned data (`policy/funding.toml`);
- `handlers`: the commands' handlers, run in the service's batches;
- `scenario`: a deterministic synthetic campaign, from a bank statement to households.
"""
