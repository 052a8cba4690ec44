-- Version 2 of plane_daily: version 1's rows and features, and whether the plane is a
-- widebody. Version 1 stays as it is for the services pinned to it (flight_delay_model).
select
    *,
    plane__seats >= 200 as plane__is_widebody
from {{ ref('plane_daily', v=1) }}
