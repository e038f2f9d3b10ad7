# Astro Runtime 3.3 (Airflow 3.3). The image installs requirements.txt and packages.txt itself.
FROM astrocrpublic.azurecr.io/runtime:3.3-1

# dbt lives in its own virtualenv, as Cosmos recommends on Astro, so its pins never fight Airflow's;
# constraints.txt holds its dependencies at the versions the tests run (tests/deploy builds the same).
COPY dbt-requirements.txt constraints.txt /tmp/
RUN python -m venv /usr/local/airflow/dbt_venv \
    && /usr/local/airflow/dbt_venv/bin/pip install --no-cache-dir -r /tmp/dbt-requirements.txt -c /tmp/constraints.txt
# Publish the project's `chainlink` connection type to Airflow (provider entry point, no deps).
RUN pip install --no-cache-dir --no-deps --no-build-isolation -e /usr/local/airflow
ENV PEG_DBT_EXECUTABLE=/usr/local/airflow/dbt_venv/bin/dbt \
    PEG_PHASE_CACHE=/usr/local/airflow/cache/chainlink_phases.json
# The manifest Cosmos renders the DAG from (`dbt parse`, no warehouse needed): DAG parsing never runs dbt.
RUN PYTHONPATH=/usr/local/airflow/plugins DBT_SEND_ANONYMOUS_USAGE_STATS=false python -m peg_monitor.dbt_project
