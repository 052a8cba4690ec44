"""fs's one version number: the distribution's (pyproject.toml reads it), the shipped dbt
package's (featurestore/dbt/dbt_project.yml repeats it; a unit test keeps them equal) and the
one `fs --version` prints. Its own module at the bottom of the layers, so that project/ can
read it without importing the package's front door."""

__version__ = "0.1.0"
