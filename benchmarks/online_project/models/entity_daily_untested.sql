-- entity_daily without the uniqueness test: the same rows, so fs breaks ties itself.
select * from {{ ref('entity_daily') }}
